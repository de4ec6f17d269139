// Plain JavaScript on purpose: it must run on an old Node to say why the project will not.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  console.error(
    `Portcullis needs Node.js >= 22.18 (it runs TypeScript through Node's type stripping; oidc-provider 9 needs >= 22). ` +
      `This is Node.js ${process.versions.node}. .ci/run shows how to install Node 24 from the npm registry.`,
  );
  process.exit(1);
}
