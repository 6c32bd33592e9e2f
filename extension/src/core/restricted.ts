// Words and places for VS Code's Restricted Mode (an untrusted workspace): envlens installs and runs
// nothing there, and says so where the user looks (a notification, a lens on the declaration, the
// notebook's kernel label, the status bar, the Environment view).

export const RESTRICTED_LENS = "$(shield) Restricted Mode: envlens installs and runs nothing here · Manage Workspace Trust";
export const RESTRICTED_KERNEL_LABEL = "envlens: restricted workspace";

export function restrictedNotice(fileName: string): string {
  return (
    `This workspace is in Restricted Mode: envlens builds no environment for ${fileName} and runs none of its cells. ` +
    "Trust the folder to use the environment it declares."
  );
}

/** Line (0-based) of the first PEP 723 `# /// script` opener, or -1: where the restricted lens goes. */
export function declarationLine(text: string): number {
  return text.split(/\r?\n/).findIndex((l) => /^# \/\/\/ script\s*$/.test(l));
}
