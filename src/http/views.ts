// Server-rendered pages: eta templates from views/, HTML-escaped by default (`<%= %>`).
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';

const views = fileURLToPath(new URL('../../views', import.meta.url));

export const eta = new Eta({ views, autoEscape: true, cache: process.env.NODE_ENV === 'production' });

export function render(template: string, data: Record<string, unknown>): string {
  return eta.render(template, data);
}
