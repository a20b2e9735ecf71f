// Given, not an exercise: what each of exercise 03's workers runs, as lesson 03's workers run
// lesson 01's server: your exercise 01 server, as a cluster worker (cluster-worker.ts). Your primary
// forks it (its defaults.workerFile).

import { runWorker } from './cluster-worker.ts';

runWorker();
