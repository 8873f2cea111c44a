/**
 * Text safe to print on a terminal: C0 and C1 control characters (escape sequences, carriage
 * returns, newlines, the bell) and the Unicode bidirectional overrides are shown as `\xNN` or
 * `\uNNNN` instead of acting on the terminal. File names and server messages go through this
 * before they reach the table or stderr: a name can clear the screen or set the window title.
 */
export function terminalSafe(text: string): string {
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
