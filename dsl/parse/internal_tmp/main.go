package main

import (
	"fmt"
	"os"

	"github.com/kefu-chat/kefu/dsl/ast"
	"github.com/kefu-chat/kefu/dsl/format"
	"github.com/kefu-chat/kefu/dsl/parse"
)

func main() {
	src, _ := os.ReadFile(os.Args[1])
	f, errs := parse.File(os.Args[1], src)
	fmt.Print(ast.Dump(f))
	if len(errs) > 0 {
		fmt.Println("ERRORS:")
		fmt.Println(errs.Render())
		return
	}
	fmt.Println("-----")
	fmt.Print(string(format.Source(f)))
}
