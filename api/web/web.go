// Package web serves kefu's chat page: a small page, embedded in the
// binary, where a person talks to the bot and sees why each reply was
// given. It calls the same /v1/chat API as any frontend.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves the page and its assets.
func Handler() http.Handler {
	sub, _ := fs.Sub(static, "static")
	return http.FileServer(http.FS(sub))
}
