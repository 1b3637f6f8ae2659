import type { Random } from '@mcm/common';

const ONSETS = ['b', 'c', 'd', 'f', 'g', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'z', 'br', 'cr', 'tr', 'st', 'pl'];
const VOWELS = ['a', 'e', 'i', 'o', 'u', 'y', 'ai', 'eo'];
const CODAS = ['', 'n', 'r', 'x', 'l', 's', 'ck', 'nd'];

/**
 * Draws `count` distinct pronounceable brand names ("Kastrel", "Vionex"), so the brand
 * column looks like a real one rather than "brand_17".
 */
export function createBrandNames(count: number, random: Random): string[] {
  const names = new Set<string>();
  const pick = (parts: readonly string[]): string => parts[random.int(parts.length)]!;

  while (names.size < count) {
    const syllables = 2 + random.int(2);
    let name = '';
    for (let i = 0; i < syllables; i++) name += pick(ONSETS) + pick(VOWELS);
    name += pick(CODAS);
    name = name.charAt(0).toUpperCase() + name.slice(1);

    // Past a few thousand brands the syllables run short of new names, so a number keeps them unique.
    if (names.has(name)) name += String(names.size);
    names.add(name);
  }

  return Array.from(names);
}
