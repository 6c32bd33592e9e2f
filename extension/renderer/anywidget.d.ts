// anywidget's front end (an AMD module turned into this default export by esbuild.mjs): given
// @jupyter-widgets/base, its widget classes.
declare module "anywidget" {
  const factory: (base: unknown) => Record<string, unknown>;
  export default factory;
}
