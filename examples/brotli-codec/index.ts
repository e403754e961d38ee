// A codec plugin: brotli (Node's zlib), chunk codec id 16. Load it and choose it:
//   dmtcp_launch --plugin dist/examples/brotli-codec/index.js --codec brotli ./program
// Images name the codec in META.codecs and the plugin in META.userPlugins; dmtcp_restart and readimage load it from
// there, or from --plugin / DMTCP_TS_PLUGINS when it moved. See docs/PLUGINS.md.
import * as path from 'node:path';
import type { UserPlugin } from '../../src/plugins/user-plugins';

const plugin: UserPlugin = {
  name: 'brotli',
  codecs: [{ name: 'brotli', id: 16, module: path.join(__dirname, 'codec.js'), options: { quality: 5 } }],
};

export = plugin;
