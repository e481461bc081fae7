// Package format is the canonical printer of the flow language, behind
// `kefu fmt`. Format parses and prints a file; Source prints a tree.
//
// For any file without errors, the output parses to an equal tree
// (ast.Equal), formatting it again changes nothing, and no comment is
// dropped. The canonical form:
//
//   - two spaces per indentation level, "\n" line ends, no byte order
//     mark, a final newline (an empty file stays empty);
//   - one blank line between top-level declarations, except that one-line
//     declarations of the same kind stay grouped (consecutive rules,
//     consecutive vars, consecutive regex entities), and a comment line
//     sticks to what follows it;
//   - besides, a blank line of the source before a declaration or a
//     statement is kept, one for any run of them (as gofmt does), except
//     at the start of a block and around on lines, entity values and the
//     elif, else and on error lines; a tree built without source gets only
//     the blank lines above;
//   - single spaces between clauses, `名: 类型` with the colon against the
//     slot name, ", " between triggers, arguments and synonyms, " = "
//     around a named argument, set and var;
//   - slot clauses in the order where, ask, retry; call clauses in the
//     order ->, timeout, retry;
//   - strings and templates in double quotes with the fewest escapes
//     (\" \\ \n \t \r, \xNN for other control characters, \uNNNN for
//     other unprintable runes); template holes as {expr}, literal braces
//     doubled; entity values bare when they lex as one word, else quoted;
//   - regexes, expressions and hole expressions as written (trimmed; inner
//     spacing kept); durations as written without leading zeros (002s →
//     2s);
//   - an own-line comment as "# text" ("#" when empty) at the indentation
//     of its block, a trailing comment as "  # text".
package format
