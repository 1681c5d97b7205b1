// Twitch IRC lines in the browser: parse one line (IRCv3 tags unescaped), escape a tag value,
// the nick of a prefix. Used by the chat panel (chat.js) and the moderation tab (moderation.js).
(function () {
  "use strict";
  const TAG_ESCAPES = { "s": " ", ":": ";", "\\": "\\", "r": "\r", "n": "\n" };
  function unescapeTag(v) {
    return v.replace(/\\(.?)/g, function (_m, c) { return c in TAG_ESCAPES ? TAG_ESCAPES[c] : c; });
  }
  function escapeTag(v) {
    return String(v).replace(/\\/g, "\\\\").replace(/;/g, "\\:").replace(/ /g, "\\s")
      .replace(/\r/g, "\\r").replace(/\n/g, "\\n");
  }
  function parseLine(line) {
    const msg = { tags: {}, prefix: "", command: "", params: [] };
    let rest = line;
    if (rest[0] === "@") {
      const sp = rest.indexOf(" ");
      if (sp < 0) return null;
      rest.slice(1, sp).split(";").forEach(function (kv) {
        const eq = kv.indexOf("=");
        if (eq < 0) msg.tags[kv] = "";
        else msg.tags[kv.slice(0, eq)] = unescapeTag(kv.slice(eq + 1));
      });
      rest = rest.slice(sp + 1);
    }
    if (rest[0] === ":") {
      const sp = rest.indexOf(" ");
      if (sp < 0) return null;
      msg.prefix = rest.slice(1, sp);
      rest = rest.slice(sp + 1);
    }
    let trailing = null;
    const at = rest.indexOf(" :");
    if (at >= 0) { trailing = rest.slice(at + 2); rest = rest.slice(0, at); }
    const parts = rest.split(" ").filter(Boolean);
    msg.command = (parts.shift() || "").toUpperCase();
    msg.params = parts;
    if (trailing !== null) msg.params.push(trailing);
    return msg;
  }
  function nickOf(prefix) { return (prefix || "").split("!")[0].toLowerCase(); }

  window.StreamHubIrc = { parseLine: parseLine, escapeTag: escapeTag, unescapeTag: unescapeTag,
    nickOf: nickOf };
})();
