// Summarise http-cache-tests results for ringcache next to the suite's
// published results for other reverse proxies, counted the way
// cache-tests.fyi shows them (lib/display.mjs determineTestResult).
//
//   node tests/conformance/summary.mjs [--suite=DIR] [--results=FILE]
//        [--strict] [--no-surrogate] [--no-lists]
//
//   --suite=DIR     installed http-cache-tests package or a checkout of
//                   github.com/http-tests/cache-tests, in either layout
//                   (default build/conformance/node_modules/http-cache-tests)
//   --results=FILE  ringcache's results JSON (default build/conformance/ringcache.json);
//                   if it is missing only the published results are shown
//   --strict        exit 1 when ringcache fails a required test (see README)
//   --no-surrogate  leave out the Surrogate-Control tests (cache-tests.fyi and
//                   the CLI include them)
//   --no-lists      print the tables only, not ringcache's failing tests
//
// No dependencies beyond node and the suite itself.

import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

// Copy of lib/display.mjs determineTestResult from http-cache-tests 0.4.5
// (BSD-3-Clause, Mark Nottingham), used only if the suite's own classifier
// (lib/display.mjs in 0.4.5, test-engine/lib/results.mjs since) fails to load.
const fallbackTypes = {
  untested: [0, 0, '-'],
  pass: [0, 0, '✅'],
  fail: [0, 0, '⛔️'],
  optional_fail: [0, 0, '⚠️'],
  yes: [0, 0, 'Y'],
  no: [0, 0, 'N'],
  setup_fail: [0, 0, '🔹'],
  harness_fail: [0, 0, '⁉️'],
  dependency_fail: [0, 0, '⚪️'],
  retry: [0, 0, '↻']
}
const fallbackPassTypes = [fallbackTypes.pass, fallbackTypes.yes]
function copiedDetermineTestResult (testSuites, testId, testResults, honorDependencies = true) {
  let test
  for (const s of testSuites) for (const t of s.tests) if (t.id === testId) test = t
  if (test === undefined) throw new Error(`Cannot find test ${testId}`)
  const result = testResults[testId]
  if (result === undefined) return fallbackTypes.untested
  if (honorDependencies && test.depends_on !== undefined) {
    for (const dependencyId of test.depends_on) {
      if (!fallbackPassTypes.includes(copiedDetermineTestResult(testSuites, dependencyId, testResults))) {
        return fallbackTypes.dependency_fail
      }
    }
  }
  if (result[0] === 'Setup') return result[1] === 'retry' ? fallbackTypes.retry : fallbackTypes.setup_fail
  if (result === false && result[0] !== 'Assertion') return fallbackTypes.harness_fail
  if (test.kind === 'required' || test.kind === undefined) return result === true ? fallbackTypes.pass : fallbackTypes.fail
  if (test.kind === 'optimal') return result === true ? fallbackTypes.pass : fallbackTypes.optional_fail
  if (test.kind === 'check') return result === true ? fallbackTypes.yes : fallbackTypes.no
  throw new Error(`Unrecognised test kind ${test.kind}`)
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

const opts = {
  suite: path.join(root, 'build/conformance/node_modules/http-cache-tests'),
  results: path.join(root, 'build/conformance/ringcache.json'),
  strict: false,
  surrogate: true,
  lists: true
}
for (const arg of process.argv.slice(2)) {
  let m
  if ((m = arg.match(/^--suite=(.+)$/))) opts.suite = path.resolve(m[1])
  else if ((m = arg.match(/^--results=(.+)$/))) opts.results = path.resolve(m[1])
  else if (arg === '--strict') opts.strict = true
  else if (arg === '--no-surrogate') opts.surrogate = false
  else if (arg === '--no-lists') opts.lists = false
  else {
    console.error(`summary.mjs: unknown argument ${arg}`)
    process.exit(2)
  }
}

const suiteUrl = rel => pathToFileURL(path.join(opts.suite, rel)).href
const exists = rel => fs.existsSync(path.join(opts.suite, rel))
if (!exists('tests/index.mjs')) {
  console.error(`summary.mjs: http-cache-tests not found in ${opts.suite} (run tests/conformance/run.sh)`)
  process.exit(2)
}
// The suite's engine (cli, classifier) sits at the top of the package in
// 0.4.5 and in test-engine/ since; the tests stay in tests/.
const engine = exists('test-engine/cli.mjs') ? 'test-engine/' : ''
const pkg = JSON.parse(fs.readFileSync(path.join(opts.suite, 'package.json'), 'utf8'))
let suiteLabel = `http-cache-tests ${pkg.version || '?'}`
if (engine !== '' || fs.existsSync(path.join(opts.suite, '.git'))) {
  suiteLabel = `the checkout in ${opts.suite} (package.json version ${pkg.version || '?'}, ` +
    `${engine ? 'test-engine/' : 'top-level'} layout)`
}

// Test definitions: the list the suite's cli.mjs runs. 0.4.5's cli.mjs adds
// the Surrogate-Control suite to tests/index.mjs; the current one runs
// tests/index.mjs as it is.
const testSuites = [...(await import(suiteUrl('tests/index.mjs'))).default]
const cliSource = fs.readFileSync(path.join(opts.suite, engine, 'cli.mjs'), 'utf8')
if (/tests\/surrogate-control\.mjs/.test(cliSource) && !testSuites.some(s => s.id === 'surrogate-control')) {
  testSuites.push((await import(suiteUrl('tests/surrogate-control.mjs'))).default)
}
const allSuites = [...testSuites] // dependencies may point into a suite left out below
const surrogateCounted = testSuites.some(s => s.id === 'surrogate-control')
if (!opts.surrogate) {
  const i = testSuites.findIndex(s => s.id === 'surrogate-control')
  if (i >= 0) testSuites.splice(i, 1)
}

// Published results of other caches; a checkout may not carry them.
let resultIndex = []
if (exists('results/index.mjs')) resultIndex = (await import(suiteUrl('results/index.mjs'))).default

// The suite's own classifier. It is written for the browser but loads in
// node (cli.mjs uses it); fall back to a copy of it if that ever changes.
let determineTestResult = copiedDetermineTestResult
for (const rel of [`${engine}lib/results.mjs`, `${engine}lib/display.mjs`]) {
  if (!exists(rel)) continue
  try {
    const f = (await import(suiteUrl(rel))).determineTestResult
    if (typeof f === 'function') { determineTestResult = f; break }
  } catch (err) {}
}

// --- classification ------------------------------------------------------------
// determineTestResult returns [fontawesome glyph, colour, text symbol]; map the
// text symbol back to a category name.
const CATEGORY = {
  '-': 'untested',
  '✅': 'pass',
  '⛔️': 'fail',
  '⚠️': 'optional_fail',
  Y: 'yes',
  N: 'no',
  '🔹': 'setup_fail',
  '⁉️': 'harness_fail',
  '⚪️': 'dependency_fail',
  '↻': 'retry'
}

function classify (testId, results) {
  const r = determineTestResult(allSuites, testId, results)
  const c = CATEGORY[r[2]]
  if (c === undefined) throw new Error(`unknown result symbol ${r[2]} for ${testId}`)
  return c
}

// The kinds this summary knows; a suite version with a kind of test not
// listed here stops the summary rather than miscounting it.
const KINDS = ['required', 'optimal', 'check']

// Tests a command-line run can produce: browser_only tests are never run by
// the CLI against a proxy, so they are not counted anywhere.
const tests = []
for (const suite of testSuites) {
  for (const test of suite.tests) {
    if (test.browser_only === true) continue
    const kind = test.kind || 'required'
    if (!KINDS.includes(kind)) {
      console.error(`summary.mjs: test ${test.id} has kind '${kind}', which this summary does not know; update KINDS`)
      process.exit(2)
    }
    tests.push({ ...test, kind, suite: suite.name })
  }
}
const browserOnly = testSuites.reduce((n, s) => n + s.tests.filter(t => t.browser_only === true).length, 0)

function tally (results) {
  const out = {}
  for (const kind of KINDS) out[kind] = { total: 0 }
  for (const test of tests) {
    const t = out[test.kind]
    const c = classify(test.id, results)
    t.total++
    t[c] = (t[c] || 0) + 1
  }
  return out
}

// --- inputs ----------------------------------------------------------------------
const implementations = []
let ringcache = null
if (fs.existsSync(opts.results)) {
  ringcache = {
    key: 'ringcache',
    label: 'ringcache',
    results: JSON.parse(fs.readFileSync(opts.results, 'utf8'))
  }
  implementations.push(ringcache)
} else {
  console.log(`(no ringcache results at ${opts.results}; showing published results only)\n`)
}
for (const key of ['varnish', 'trafficserver', 'nginx', 'squid']) {
  const file = `${key}.json`
  const meta = resultIndex.find(i => i.file === file) || {}
  const p = path.join(opts.suite, 'results', file)
  if (!meta.file || !fs.existsSync(p)) continue
  implementations.push({
    key,
    label: `${meta.name || key} ${meta.version || ''}`.trim() + ' (published)',
    results: JSON.parse(fs.readFileSync(p, 'utf8'))
  })
}
for (const impl of implementations) impl.tally = tally(impl.results)

// --- tables ------------------------------------------------------------------------
const COLUMNS = {
  required: [['pass', 'pass'], ['fail', 'fail'], ['dependency_fail', 'dep-failed'],
    ['setup_fail', 'setup'], ['retry', 'retry'], ['harness_fail', 'harness'], ['untested', 'untested']],
  optimal: [['pass', 'pass'], ['optional_fail', 'fail'], ['dependency_fail', 'dep-failed'],
    ['setup_fail', 'setup'], ['retry', 'retry'], ['harness_fail', 'harness'], ['untested', 'untested']],
  check: [['yes', 'yes'], ['no', 'no'], ['dependency_fail', 'dep-failed'],
    ['setup_fail', 'setup'], ['retry', 'retry'], ['harness_fail', 'harness'], ['untested', 'untested']]
}
const HEADINGS = {
  required: 'conformance; a fail is a specification violation',
  optimal: 'a fail is a missed optimisation, usually not reusing a stored response',
  check: 'behaviour survey with no right answer: yes/no'
}
const labelWidth = Math.max(20, ...implementations.map(i => i.label.length)) + 2

const surrogateNote = !surrogateCounted ? 'this version runs no' : opts.surrogate ? 'including' : 'excluding'
console.log(`suite: ${suiteLabel}`)
console.log(`http-cache-tests results, counted as on cache-tests.fyi (${tests.length} tests, ${surrogateNote} ` +
  `Surrogate-Control; ${browserOnly} browser-only tests not counted)`)
if (implementations.length === (ringcache ? 1 : 0)) {
  console.log('(this suite carries no published results of other caches; ringcache only)')
}
for (const kind of KINDS) {
  const total = tests.filter(t => t.kind === kind).length
  console.log(`\n${kind} tests (${total}): ${HEADINGS[kind]}`)
  const cols = COLUMNS[kind]
  console.log('  ' + 'implementation'.padEnd(labelWidth) + cols.map(([, h]) => h.padStart(11)).join(''))
  for (const impl of implementations) {
    const t = impl.tally[kind]
    console.log('  ' + impl.label.padEnd(labelWidth) + cols.map(([c]) => String(t[c] || 0).padStart(11)).join(''))
  }
}

// --- ringcache's failures ------------------------------------------------------------
function detail (testId, results) {
  const r = results[testId]
  if (Array.isArray(r)) return r.slice(1).join(' ').replace(/\s+/g, ' ')
  if (r === undefined) return 'no result'
  return String(r)
}
function clip (s, n) { return s.length > n ? s.slice(0, n - 1) + '…' : s }

const strictFailing = new Set(['fail', 'setup_fail', 'harness_fail', 'retry', 'untested'])
// Required tests that score the RFC's rule as a failure: where the suite and
// the RFC disagree the RFC wins, so --strict does not count them (they are
// listed apart). Each entry says what the wrong expectation looks like in the
// test's definition, and is honoured only while the loaded suite still has
// it: a suite version that fixed the test (the current tests did, for all of
// these) gets no excuse, and a failure there counts.
const secondRequestNotCached = test => test.requests.length === 2 &&
  test.requests[1].expected_type === 'not_cached'
// 0.4.5 wants the invalid or repeated Age to make the response stale: the
// second request must reach the origin.
const ageNotCached = { applies: secondRequestNotCached }
// The origin closes the connection and the stored response forbids
// serving it stale: the only right answer is an error made by the cache
// (RFC 9111 4.2.4, 5.2.2.2/.4/.8/.10), which carries no origin request
// number, and 0.4.5 scores it "comes from cache" (expected_type not_cached
// on the disconnecting request). ringcache answers 502 there
// (tests/scenario/cache_stale.c checks it). The current tests check instead
// that the answer is not a stored response.
const staleCloseByRequestNumber = {
  applies: test => secondRequestNotCached(test) && test.requests[1].disconnect === true
}
// IMS 3000 s before the stored response's Date, no Last-Modified: RFC 9111
// 4.3.2 has the cache evaluate IMS against the Date, which is later than the
// client's date, so the representation counts as modified (RFC 9110 13.1.3)
// and the answer is the stored 200. The suite wants a 304.
const imsBeforeDateWants304 = {
  applies: test => {
    const [first, second] = test.requests
    if (!first || !second || second.expected_status !== 304) return false
    const lm = (first.response_headers || []).some(h => String(h[0]).toLowerCase() === 'last-modified')
    const ims = (second.request_headers || []).find(h => String(h[0]).toLowerCase() === 'if-modified-since')
    return !lm && ims !== undefined && typeof ims[1] === 'number' && ims[1] < 0
  }
}
// The stored 206 says Content-Range "bytes 4-9/10" (6 bytes) and carries a
// 5-byte body: a message whose content contradicts its Content-Range (RFC
// 9110 14.4, 15.3.7) is relayed, not stored, so it answers no later range.
const inconsistent206 = {
  applies: test => {
    const first = test.requests[0]
    if (!first || !Array.isArray(first.response_status) || first.response_status[0] !== 206) return false
    const cr = (first.response_headers || []).find(h => String(h[0]).toLowerCase() === 'content-range')
    const m = cr && /^bytes (\d+)-(\d+)\/\d+$/.exec(String(cr[1]))
    return Boolean(m) && typeof first.response_body === 'string' &&
      Number(m[2]) - Number(m[1]) + 1 !== first.response_body.length
  }
}
const partialReason = 'RFC 9110 14.4, 15.3.7: a 206 whose body (5 bytes) contradicts its Content-Range (4-9, 6 bytes) is not stored'
const againstRfc = new Map(Object.entries({
  'partial-store-partial-reuse-partial': { ...inconsistent206, reason: partialReason },
  'partial-store-partial-reuse-partial-byterange': { ...inconsistent206, reason: partialReason },
  'partial-store-partial-reuse-partial-absent': { ...inconsistent206, reason: partialReason },
  'partial-store-partial-reuse-partial-suffix': { ...inconsistent206, reason: partialReason },
  'conditional-lm-fresh-no-lm': { ...imsBeforeDateWants304, reason: 'RFC 9111 4.3.2, RFC 9110 13.1.3: IMS earlier than the stored Date (no Last-Modified) means modified: 200, not 304' },
  'age-parse-nonnumeric': { ...ageNotCached, reason: 'RFC 9111 5.1: an invalid Age is ignored, not taken as old' },
  'age-parse-negative': { ...ageNotCached, reason: 'RFC 9111 5.1: an invalid Age is ignored, not taken as old' },
  'age-parse-float': { ...ageNotCached, reason: 'RFC 9111 5.1: an invalid Age is ignored, not taken as old' },
  'age-parse-parameter': { ...ageNotCached, reason: 'RFC 9111 5.1: an invalid Age is ignored, not taken as old' },
  'age-parse-numeric-parameter': { ...ageNotCached, reason: 'RFC 9111 5.1: an invalid Age is ignored, not taken as old' },
  'age-parse-prefix-twoline': { ...ageNotCached, reason: 'RFC 9111 5.1: a list-based Age uses its first member' },
  'age-parse-dup-0': { ...ageNotCached, reason: 'RFC 9111 5.1: a list-based Age uses its first member' },
  'age-parse-dup-0-twoline': { ...ageNotCached, reason: 'RFC 9111 5.1: a list-based Age uses its first member' },
  'age-parse-dup-old': { ...ageNotCached, reason: 'RFC 9111 5.1: a list-based Age uses its first member' },
  'stale-close-must-revalidate': { ...staleCloseByRequestNumber, reason: 'RFC 9111 4.2.4: no stale past must-revalidate; a 502 is scored as cached' },
  'stale-close-proxy-revalidate': { ...staleCloseByRequestNumber, reason: 'RFC 9111 4.2.4: no stale past proxy-revalidate; a 502 is scored as cached' },
  'stale-close-no-cache': { ...staleCloseByRequestNumber, reason: 'RFC 9111 5.2.2.4: no-cache is never served unvalidated; a 502 is scored as cached' },
  'stale-close-s-maxage=2': { ...staleCloseByRequestNumber, reason: 'RFC 9111 5.2.2.10: no stale past s-maxage; a 502 is scored as cached' }
}))
function failsAgainstRfc (test, res) {
  const entry = againstRfc.get(test.id)
  const cat = classify(test.id, res)
  return entry !== undefined && entry.applies(test) &&
    ((test.kind === 'required' && cat === 'fail') || (test.kind === 'optimal' && cat === 'optional_fail'))
}
let strictFailures = 0
if (ringcache) {
  const res = ringcache.results
  const groups = [
    ['required', 'fail', 'required tests ringcache FAILS (specification violations)'],
    ['required', 'setup_fail', 'required tests that failed during setup'],
    ['required', 'retry', 'required tests where ringcache retried a request (interpret by hand)'],
    ['required', 'harness_fail', 'required tests with a harness error'],
    ['required', 'untested', 'required tests missing from the results'],
    ['optimal', 'optional_fail', 'optimal tests ringcache fails (missed caching)'],
    ['optimal', 'setup_fail', 'optimal tests that failed during setup'],
    ['optimal', 'retry', 'optimal tests where ringcache retried a request']
  ]
  for (const test of tests) {
    if (test.kind === 'required' && strictFailing.has(classify(test.id, res)) &&
      !failsAgainstRfc(test, res)) strictFailures++
  }
  if (opts.lists) {
    for (const [kind, cat, title] of groups) {
      const list = tests.filter(t => t.kind === kind && classify(t.id, res) === cat && !failsAgainstRfc(t, res))
      if (list.length === 0) continue
      console.log(`\n${title} (${list.length}):`)
      for (const t of list) {
        console.log(`  ${t.id}  ${t.name}`)
        if (cat !== 'untested') console.log(`      -> ${clip(detail(t.id, res), 150)}`)
      }
    }
    const rfc = tests.filter(t => failsAgainstRfc(t, res))
    if (rfc.length) {
      console.log(`\ntests this suite scores against the RFC, not counted by --strict (${rfc.length}):`)
      for (const t of rfc) console.log(`  ${t.id} (${t.kind})  ${againstRfc.get(t.id).reason}`)
    }
    const dep = tests.filter(t => t.kind === 'required' && classify(t.id, res) === 'dependency_fail').length
    if (dep) {
      console.log(`\n(${dep} required tests were not evaluated because a test they depend on did not pass;` +
        ' they usually need the response to be cached first)')
    }
  }
}

// --- one-line summary ---------------------------------------------------------------------
const line = implementations.map(impl => {
  const r = impl.tally.required
  const o = impl.tally.optimal
  return `${impl.key} required ${r.pass || 0}/${r.total} optimal ${o.pass || 0}/${o.total}`
}).join('; ')
console.log(`\nconformance: ${line}`)

if (opts.strict && ringcache) {
  if (strictFailures > 0) {
    console.log(`conformance: --strict: ${strictFailures} required test(s) failed`)
    process.exit(1)
  }
} else if (opts.strict) {
  console.log('conformance: --strict: no ringcache results')
  process.exit(1)
}
