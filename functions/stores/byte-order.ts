export { compareBytes } from '../engine/model/byte-order.js';
