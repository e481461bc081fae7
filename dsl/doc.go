// Package dsl will own kefu's flow language: lexer, parser, checker,
// compiler, formatter and a pure runtime. It is empty until the dialog
// issue lands.
package dsl
