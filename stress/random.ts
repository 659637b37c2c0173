export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A whole number from `min` to `max`, both included. */
export const randomInt = (min: number, max: number): number => min + Math.floor(Math.random() * (max - min + 1));

export const chance = (p: number): boolean => Math.random() < p;

export function pick<T>(items: readonly T[]): T {
  if (items.length === 0) throw new Error('pick from an empty list');
  return items[Math.floor(Math.random() * items.length)]!;
}
