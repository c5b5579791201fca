// keyvault-local.test.js: the Key Vault conformance suite (lib/keyvault-suite.js) once more with
// the local suffix, https://NAME.vault.localhost, through the same proxy.
'use strict';
require('./lib/keyvault-suite').run({ suffix: 'vault.localhost' });
