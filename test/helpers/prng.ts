/** mulberry32, seeded, uniform in [0, 1): the simulator's generator, so randomised tests replay from their seed. */
export { seededRandom as seeded } from "../../src/fetch/sim/servers.js";
