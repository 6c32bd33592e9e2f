import { test } from "node:test";
import assert from "node:assert/strict";
import { trustDialog, withMetadataPath } from "../../src/core/trust";

test("the trust dialog lists the packages and the warnings", () => {
  const d = trustDialog("study.ipynb", {
    uri: "file:///w/study.ipynb",
    trusted: false,
    reason: "not approved on this machine",
    status: "unsigned",
    packages: ["numpy", "reqeusts"],
    flags: [{ package: "reqeusts", kind: "typo", detail: "looks like a typo of the popular package 'requests'" }],
  });
  assert.equal(d.message, "study.ipynb asks to install 2 packages: approve them?");
  assert.match(d.detail, /• numpy\n {2}• reqeusts/);
  assert.match(d.detail, /⚠ reqeusts: looks like a typo of the popular package 'requests'/);
  assert.equal(d.approve, "Approve and Continue");
});

test("a changed or foreign-signed declaration says so", () => {
  const d = trustDialog("a.py", { uri: "", trusted: false, reason: "changed since approved", status: "changed", packages: ["x"], flags: [] });
  assert.equal(d.message, "The dependencies of a.py changed since they were approved here, or were approved on another machine: approve them?");
});

test("the signature is set at the metadata path, other keys kept", () => {
  const md = { kernelspec: { name: "python3" }, envlens: { other: 1 } };
  assert.deepEqual(withMetadataPath(md, ["envlens", "trust"], "hmac-sha256:ab"), {
    kernelspec: { name: "python3" },
    envlens: { other: 1, trust: "hmac-sha256:ab" },
  });
  assert.deepEqual(withMetadataPath({}, ["envlens", "trust"], "s"), { envlens: { trust: "s" } });
});
