// Preloaded (node --import) into the suite's CLI by run.sh --suite.
//
// The current http-cache-tests client collects interim (1xx) responses by
// handing the global fetch() a dispatcher built with the undici package it
// depends on (undici 7's interceptor API). Node's built-in fetch is undici 7
// only from node 24 on; on an older node the built-in fetch cannot drive that
// dispatcher and every interim test fails with "fetch failed" before a byte
// is sent. So when the suite ships a newer undici than the one inside node,
// use that undici's fetch() as the global one. Nothing else changes, and on a
// node whose built-in undici is as new this does nothing.
//
// CONFORMANCE_SUITE names the suite's directory (where its node_modules is).
import { createRequire } from 'node:module'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const suite = process.env.CONFORMANCE_SUITE
if (suite) {
  const require = createRequire(path.join(suite, 'package.json'))
  let pkgPath
  try {
    pkgPath = require.resolve('undici/package.json')
  } catch (err) {
    pkgPath = undefined // the suite does not use undici: leave fetch alone
  }
  if (pkgPath) {
    const major = v => parseInt(String(v).split('.')[0], 10)
    const theirs = require(pkgPath).version
    const ours = process.versions.undici || '0'
    if (major(theirs) > major(ours)) {
      const undici = await import(pathToFileURL(require.resolve('undici')).href)
      globalThis.fetch = undici.fetch
    }
  }
}
