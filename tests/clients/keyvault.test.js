// keyvault.test.js: the Key Vault conformance suite (lib/keyvault-suite.js) with the cloud's
// own vault host names, https://NAME.vault.azure.net, through cmksim's CONNECT proxy.
'use strict';
require('./lib/keyvault-suite').run({ suffix: 'vault.azure.net' });
