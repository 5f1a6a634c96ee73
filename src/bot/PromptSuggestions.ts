/**
 * Prompt suggestions from the running model: the vocabulary and suggestions that live workers publish
 * (jobs/workers.ts lexicons), offered as Discord autocomplete choices while a member types a prompt option,
 * and as the placeholder of a board's modal (Discord modals have no autocomplete).
 *
 * Models that declare nothing (real SD3 packs) give no choices at all. With several live models the
 * suggestions of all of them are offered; the note about unknown words only when one model is live (which
 * model renders a job is not known while typing; the result names the words its model did not know).
 */
import { Vocabulary } from '../engine/text/Vocabulary.ts';
import type { ModelLexicon, WorkerDirectory } from '../jobs/index.ts';
import { fitText } from './replies/fit.ts';

/** Discord: at most 25 choices; a choice's name and (string) value are 1-100 characters. */
export const MAX_CHOICES = 25;
export const MAX_CHOICE_CHARS = 100;

export interface PromptChoice {
  name: string;
  value: string;
}

/** What the live models know, merged. */
export interface LiveLexicon {
  /** Models that published a lexicon, by name. */
  models: string[];
  /** Their suggestions, most common first (interleaved across models), distinct. */
  suggestions: string[];
  /** Their words, lower case, sorted, distinct (word completion). */
  words: string[];
  /** The one live model's vocabulary, when exactly one model declares one (the unknown-word note). */
  vocabulary?: { model: string; words: Vocabulary };
}

export function mergeLexicons(lexicons: readonly ModelLexicon[]): LiveLexicon | undefined {
  if (lexicons.length === 0) return undefined;
  const suggestions = new Set<string>();
  const longest = Math.max(...lexicons.map((l) => l.suggestions?.length ?? 0));
  for (let i = 0; i < longest; i++) {
    for (const l of lexicons) {
      const s = l.suggestions?.[i]?.trim();
      if (s) suggestions.add(s);
    }
  }
  const words = new Set<string>();
  for (const l of lexicons) for (const w of l.vocabulary ?? []) words.add(w.normalize('NFKC').toLowerCase());
  const withWords = lexicons.filter((l) => l.vocabulary);
  const models = [...new Set(lexicons.map((l) => l.model))];
  return {
    models,
    suggestions: [...suggestions],
    words: [...words].sort(),
    ...(withWords.length === 1 ? { vocabulary: { model: withWords[0]!.model, words: Vocabulary.from(withWords[0]!.vocabulary!) } } : {}),
  };
}

/** Fits a choice's value: a cut prompt would be a different prompt, so an over-long one is left out. */
const fitsValue = (value: string) => value.length >= 1 && value.length <= MAX_CHOICE_CHARS;

/** The member's own text as a choice, its name saying which of its words the model does not know. */
function ownChoice(text: string, lexicon: LiveLexicon): PromptChoice {
  const unknown = lexicon.vocabulary?.words.unknownWords(text) ?? [];
  if (unknown.length === 0) return { name: text, value: text };
  const note = ` · '${lexicon.vocabulary!.model}' does not know: ${unknown.join(', ')}`;
  // The note wins the space: the member knows what they typed.
  const name = text.length + note.length <= MAX_CHOICE_CHARS ? `${text}${note}` : fitText(`${fitText(text, 30)}${note}`, MAX_CHOICE_CHARS);
  return { name, value: text };
}

/**
 * Up to 25 choices for what the member typed so far: nothing typed, the most common suggestions; else their
 * own text first (so Enter keeps what they typed; its name notes unknown words), then suggestions starting
 * with it, completions of its last word from the vocabulary, and suggestions containing it.
 */
export function promptChoices(typed: string, lexicon: LiveLexicon | undefined): PromptChoice[] {
  if (!lexicon) return [];
  const choices = new Map<string, PromptChoice>();
  const add = (choice: PromptChoice) => {
    if (choices.size < MAX_CHOICES && fitsValue(choice.value) && !choices.has(choice.value)) {
      choices.set(choice.value, { name: fitText(choice.name, MAX_CHOICE_CHARS).trim() || choice.value, value: choice.value });
    }
  };
  const text = typed.replace(/\s+/gu, ' ').trimStart();
  const query = text.trim().normalize('NFKC').toLowerCase();
  if (query === '') {
    for (const s of lexicon.suggestions) add({ name: s, value: s });
    return [...choices.values()];
  }
  add(ownChoice(text.trim(), lexicon));
  for (const s of lexicon.suggestions) if (s.toLowerCase().startsWith(query)) add({ name: s, value: s });
  const last = /^(.*?)([\p{L}\p{N}]+)$/u.exec(text);
  if (last) {
    const [, head, partial] = last as unknown as [string, string, string];
    const lower = partial.normalize('NFKC').toLowerCase();
    for (const word of lexicon.words) {
      if (word.startsWith(lower) && word !== lower) add({ name: `${head}${word}`, value: `${head}${word}` });
    }
  }
  for (const s of lexicon.suggestions) if (s.toLowerCase().includes(query)) add({ name: s, value: s });
  return [...choices.values()];
}

/** A suggestion for a modal's placeholder ("e.g. ..."), not `avoid` (the board's first prompt). */
export function exampleSuggestion(lexicon: LiveLexicon | undefined, avoid: readonly string[] = [], random = Math.random): string | undefined {
  const pool = (lexicon?.suggestions ?? []).slice(0, MAX_CHOICES).filter((s) => !avoid.includes(s));
  return pool.length > 0 ? pool[Math.floor(random() * pool.length)] : undefined;
}

/**
 * The live models' lexicons, read from Redis at most every `ttlMs` (autocomplete fires on every keystroke).
 * A lexicon's id hashes its content, so a fetched one is kept for as long as workers announce it.
 */
export class ModelLexicons {
  private cached: { at: number; value: LiveLexicon | undefined } | undefined;
  private loading: Promise<LiveLexicon | undefined> | undefined;
  private readonly byId = new Map<string, ModelLexicon>();

  constructor(
    private readonly workers: Pick<WorkerDirectory, 'live' | 'lexicon'>,
    private readonly ttlMs = 5_000,
    private readonly clock: () => number = Date.now,
  ) {}

  /**
   * What the live models know; undefined when none declares anything. Waits at most `timeoutMs` (an
   * autocomplete must be answered within 3 s): then the last known answer, or undefined.
   */
  async current(timeoutMs = 1_500): Promise<LiveLexicon | undefined> {
    const cached = this.cached;
    if (cached && this.clock() - cached.at < this.ttlMs) return cached.value;
    this.loading ??= this.load().finally(() => (this.loading = undefined));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<LiveLexicon | undefined>((resolve) => {
      timer = setTimeout(() => resolve(cached?.value), timeoutMs);
    });
    try {
      return await Promise.race([this.loading.catch(() => cached?.value), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async load(): Promise<LiveLexicon | undefined> {
    const ids = [...new Set((await this.workers.live()).flatMap((w) => (w.lexicon ? [w.lexicon] : [])))].sort();
    const lexicons: ModelLexicon[] = [];
    for (const id of ids) {
      let lexicon = this.byId.get(id);
      if (!lexicon) {
        lexicon = await this.workers.lexicon(id);
        if (lexicon) this.byId.set(id, lexicon);
      }
      if (lexicon) lexicons.push(lexicon);
    }
    for (const id of this.byId.keys()) if (!ids.includes(id)) this.byId.delete(id);
    const value = mergeLexicons(lexicons);
    this.cached = { at: this.clock(), value };
    return value;
  }
}
