// What the demo and the desk share: the newsroom's vocabulary and small helpers.

/** The default region set (service/config.py DEFAULT_REGIONS), labelled as on the site. */
export const REGIONS = [
  ["africa", "Africa"],
  ["asia", "Asia"],
  ["asia-pacific", "Asia-Pacific"],
  ["europe", "Europe"],
  ["latin-america", "Latin America"],
  ["mena", "MENA"],
  ["palestine", "Palestine"],
  ["us-canada", "US & Canada"],
];

/** Each edition: code, its own name, its name in English. */
export const LANGUAGES = [
  ["en", "English", "English"],
  ["ar", "العربية", "Arabic"],
  ["es", "Español", "Spanish"],
];

export const CATEGORIES = [
  ["politics", "Politics"],
  ["economy", "Economy"],
  ["sports", "Sports"],
  ["arts-culture", "Arts & Culture"],
  ["health", "Health"],
  ["miscellaneous", "Miscellaneous"],
  ["technology", "Technology"],
  ["environment", "Environment"],
];

/** @param {string} slug */
export function regionName(slug) {
  return REGIONS.find(([value]) => value === slug)?.[1] ?? slug;
}

/** @param {string} language */
export function textDirection(language) {
  return language === "ar" ? "rtl" : "ltr";
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
