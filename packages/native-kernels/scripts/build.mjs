/* global process, console */
// Builds the native kernel module (build/Release/mcm_native_kernels.node) with node-gyp
// against the system's OpenBLAS. Run through `npm run build:native` at the repository root.
// The module is optional: without it the engine multiplies on the wasm backend's XNNPACK.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

// node-gyp downloads Node's headers unless nodedir names an installation that has them.
// Node from a distribution package or an official tarball keeps them in <prefix>/include/node.
const prefix = join(dirname(process.execPath), '..');
const env = { ...process.env };
if (existsSync(join(prefix, 'include/node/node_api.h')) && env.npm_config_nodedir === undefined) {
  env.npm_config_nodedir = prefix;
}

// npm sets npm_config_node_gyp to its bundled node-gyp inside scripts.
const nodeGyp = process.env.npm_config_node_gyp;
const [command, args] = nodeGyp ? [process.execPath, [nodeGyp, 'rebuild']] : ['node-gyp', ['rebuild']];
const run = spawnSync(command, args, { cwd: packageRoot, env, stdio: 'inherit' });
if (run.error !== undefined || run.status !== 0) {
  console.error(
    `build:native failed (${run.error?.message ?? `node-gyp exited with ${run.status}`}). It needs a C compiler, make, ` +
      'python3 and the OpenBLAS headers and library: on Debian or Ubuntu, apt-get install -y build-essential libopenblas-dev. ' +
      'Training still works without the module, on the wasm backend alone.',
  );
  process.exit(1);
}
console.log(`build:native: built ${join(packageRoot, 'build/Release/mcm_native_kernels.node')}`);
