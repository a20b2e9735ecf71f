// Given, not an exercise: the bounds of /heavy's ?n= (readLoops), from the lesson. Parsing a number is
// not this lesson's point; counting in the request handler is (TODO 2 in server.ts).

export { countRound, heavyDefaults, readLoops } from '../../lessons/01-single-process/heavy.ts';
