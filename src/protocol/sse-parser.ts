// Incremental server-sent-events parser for the response path: splits a byte stream into event blocks, keeping each block's exact text.

/**
 * One block of an SSE stream, i.e. everything up to and including the blank line that ends it.
 * Every byte of the input belongs to exactly one block, in order, so concatenating `raw` of all
 * returned blocks reproduces the stream (after UTF-8 decoding): a caller can re-emit the blocks and drop some.
 * Blocks without data (comments such as `: ping`, stray blank lines) are returned too, with `data` ''.
 */
export interface SseEvent {
  /** Value of the last `event:` line, if any. */
  readonly event?: string;
  /** `data:` line values joined with '\n' ('' when the block has no data line). */
  readonly data: string;
  /** Exact text of the block, including its terminating blank line (absent only for a final block cut at end()). */
  readonly raw: string;
}

const LF = 10;
const CR = 13;
const COLON = 58;
const SPACE = 32;
const BOM = '\uFEFF';

/**
 * Feed chunks with push(); call end() once when the stream is over.
 * Handles LF, CRLF and lone CR line ends, chunks split anywhere (also inside a UTF-8 character or a CRLF pair).
 * Cost is linear in the input: each character is scanned once to find block ends and once more to read fields.
 * A block whose final line end is a CR at the very end of the data received so far is held until the next
 * character (or end()) shows whether an LF follows, so that `raw` always holds the whole CRLF.
 */
export class SseParser {
  /** Made with the first Buffer pushed: a caller that decodes its own pieces (the relay) pushes text and needs none. */
  private decoder: TextDecoder | null = null;
  /** Longest block held while it is incomplete (characters); beyond it push() throws SseBlockTooLargeError. */
  private readonly maxBlockChars: number;
  /** Text of the block in progress received in earlier pushes. */
  private parts: string[] = [];
  private partsChars = 0;
  /** Whether the scanned text ends at the start of a line. */
  private atLineStart = true;
  /** Whether the scanned text ends with a CR (a following LF belongs to the same line end). */
  private afterCR = false;
  /** Whether the block in `parts` is complete but waits to see if an LF follows its final CR. */
  private heldBlock = false;
  private firstBlock = true;

  constructor(options: { readonly maxBlockChars?: number } = {}) {
    this.maxBlockChars = options.maxBlockChars ?? Number.POSITIVE_INFINITY;
  }

  /** Characters of the block in progress held from earlier pushes (memory the caller may want to account for). */
  get pendingChars(): number {
    return this.partsChars;
  }

  push(chunk: Buffer | string): SseEvent[] {
    const text = typeof chunk === 'string' ? chunk : this.decode(chunk);
    const events: SseEvent[] = [];
    if (text.length > 0) this.scan(text, events);
    return events;
  }

  private decode(chunk: Buffer): string {
    if (this.decoder === null) this.decoder = new TextDecoder('utf-8', { ignoreBOM: true });
    return this.decoder.decode(chunk, { stream: true });
  }

  end(): SseEvent[] {
    const events: SseEvent[] = [];
    const tail = this.decoder?.decode() ?? '';
    if (tail.length > 0) this.scan(tail, events);
    if (this.parts.length > 0) events.push(this.block(this.parts.join('')));
    this.parts = [];
    this.partsChars = 0;
    this.atLineStart = true;
    this.afterCR = false;
    this.heldBlock = false;
    return events;
  }

  private scan(text: string, events: SseEvent[]): void {
    const length = text.length;
    let blockStart = 0;
    let i = 0;
    if (this.afterCR) {
      if (text.charCodeAt(0) === LF) i = 1;
      this.afterCR = false;
      if (this.heldBlock) {
        this.heldBlock = false;
        this.emit(text.slice(0, i), events);
        blockStart = i;
      }
    }
    let nextLF = text.indexOf('\n', i);
    let nextCR = text.indexOf('\r', i);
    while (i < length) {
      if (nextLF !== -1 && nextLF < i) nextLF = text.indexOf('\n', i);
      if (nextCR !== -1 && nextCR < i) nextCR = text.indexOf('\r', i);
      const lineEnd = nextLF === -1 ? nextCR : nextCR === -1 ? nextLF : Math.min(nextLF, nextCR);
      if (lineEnd === -1) {
        this.atLineStart = false;
        break;
      }
      const blank = lineEnd === i && this.atLineStart;
      let next = lineEnd + 1;
      if (text.charCodeAt(lineEnd) === CR) {
        if (next === length) this.afterCR = true;
        else if (text.charCodeAt(next) === LF) next++;
      }
      this.atLineStart = true;
      i = next;
      if (!blank) continue;
      if (this.afterCR) {
        this.heldBlock = true;
        break;
      }
      this.emit(text.slice(blockStart, next), events);
      blockStart = next;
    }
    if (blockStart < length) this.hold(blockStart === 0 ? text : text.slice(blockStart));
  }

  /**
   * Keeps the start of an unfinished block. A stream that never ends its block (a broken or hostile upstream) would
   * grow it without bound: past the limit the block is dropped and the stream refused.
   */
  private hold(part: string): void {
    this.partsChars += part.length;
    if (this.partsChars > this.maxBlockChars) {
      this.parts = [];
      this.partsChars = 0;
      throw new SseBlockTooLargeError(this.maxBlockChars);
    }
    this.parts.push(part);
  }

  private emit(lastPart: string, events: SseEvent[]): void {
    let raw = lastPart;
    if (this.parts.length > 0) {
      this.parts.push(lastPart);
      raw = this.parts.join('');
      this.parts = [];
      this.partsChars = 0;
    }
    events.push(this.block(raw));
  }

  private block(raw: string): SseEvent {
    let start = 0;
    if (this.firstBlock) {
      this.firstBlock = false;
      if (raw.startsWith(BOM)) start = 1;
    }
    return parseBlock(raw, start);
  }
}

/** An upstream sent more than the limit without ending an event. */
export class SseBlockTooLargeError extends Error {
  constructor(readonly maxChars: number) {
    super(`the upstream sent more than ${maxChars} characters without ending an SSE event`);
    this.name = 'SseBlockTooLargeError';
  }
}

/** Reads the fields of one block (lines separated by LF, CRLF or CR). Only `event` and `data` are kept. */
function parseBlock(raw: string, start: number): SseEvent {
  // Fast path for the common `data: <json>\n\n` block.
  if (raw.startsWith('data: ', start)) {
    const lineEnd = raw.indexOf('\n', start);
    if (lineEnd === raw.length - 2 && raw.charCodeAt(lineEnd + 1) === LF && raw.indexOf('\r', start) === -1) {
      return { data: raw.slice(start + 6, lineEnd), raw };
    }
  }
  let event: string | undefined;
  let data: string | undefined;
  let i = start;
  const length = raw.length;
  const hasCR = raw.indexOf('\r', start) !== -1;
  while (i < length) {
    let lineEnd = hasCR ? i : raw.indexOf('\n', i);
    if (hasCR) {
      while (lineEnd < length && raw.charCodeAt(lineEnd) !== LF && raw.charCodeAt(lineEnd) !== CR) lineEnd++;
    } else if (lineEnd === -1) {
      lineEnd = length;
    }
    if (lineEnd > i && raw.charCodeAt(i) !== COLON) {
      let colon = raw.indexOf(':', i);
      if (colon === -1 || colon > lineEnd) colon = lineEnd;
      const field = raw.slice(i, colon);
      let valueStart = colon + 1;
      if (valueStart < lineEnd && raw.charCodeAt(valueStart) === SPACE) valueStart++;
      const value = valueStart >= lineEnd ? '' : raw.slice(valueStart, lineEnd);
      if (field === 'data') data = data === undefined ? value : `${data}\n${value}`;
      else if (field === 'event') event = value;
    }
    i = lineEnd + (raw.charCodeAt(lineEnd) === CR && raw.charCodeAt(lineEnd + 1) === LF ? 2 : 1);
  }
  return event === undefined ? { data: data ?? '', raw } : { event, data: data ?? '', raw };
}
