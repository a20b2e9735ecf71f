// Bun's test runner gives each test 5 s unless told otherwise, too little for a test that starts a
// cluster on a busy machine; bunfig.toml preloads this so that a bare `bun test` gives each test
// what `npm test` gives it on Node. (Bun 1.4 reads no `timeout` from bunfig.toml itself.)
import { setDefaultTimeout } from 'bun:test';

setDefaultTimeout(600_000);
