'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { cases, runCase, vectorFiles } = require('./vectors');

test('the vector files are found', () => {
  assert.ok(vectorFiles().length >= 17, vectorFiles().join(', '));
});

// One test per case, named by file and case: a failure names both.
for (const [name, c] of cases()) {
  test(name, () => runCase(c));
}
