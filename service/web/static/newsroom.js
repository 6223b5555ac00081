// What the demo and the desk share: the node's vocabulary (from GET /v1/meta) and small helpers.

import { fetchMeta } from "/static/breaking-client.js";

/** The vocabulary of the node serving this page: its regions, not a hard-coded list. */
const meta = await fetchMeta();

/** Each region as [slug, English name]. */
export const REGIONS = meta.regions.map(({ slug, names }) => [slug, names.en ?? slug]);

const englishName = new Intl.DisplayNames(["en"], { type: "language" });
/** Each edition: code, its own name, its name in English. */
export const LANGUAGES = meta.languages.map(({ code, name }) => [code, name, englishName.of(code) ?? code]);

/** Each category as [slug, English name]. */
export const CATEGORIES = meta.categories.map(({ slug, names }) => [slug, names.en ?? slug]);

/** Each priority as [slug, English name], highest first. */
export const PRIORITIES = meta.priorities.map(({ slug, names }) => [slug, names.en ?? slug]);

const RTL = new Set(meta.languages.filter((language) => language.dir === "rtl").map((language) => language.code));

/** @param {string} slug */
export function regionName(slug) {
  return REGIONS.find(([value]) => value === slug)?.[1] ?? slug;
}

/** @param {string} language */
export function textDirection(language) {
  return RTL.has(language) ? "rtl" : "ltr";
}

/**
 * Build an element with text (never markup) and attributes.
 * @param {string} tag
 * @param {Record<string, string>} [attributes]
 * @param {string} [text]
 * @returns {HTMLElement}
 */
export function el(tag, attributes = {}, text) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

/** @param {string} iso */
export function clock(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
}
