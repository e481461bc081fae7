package dsl

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/kefu-chat/kefu/dsl/ast"
	"github.com/kefu-chat/kefu/dsl/compile"
	"github.com/kefu-chat/kefu/dsl/parse"
	"github.com/kefu-chat/kefu/dsl/source"
)

// Program is a compiled bot, safe for concurrent use.
type Program = compile.Program

// Schema describes the bot around the flows; see compile.Schema.
type Schema = compile.Schema

// Error and ErrorList are the errors Load reports, with positions and hints.
type (
	Error     = source.Error
	ErrorList = source.ErrorList
)

// Files expands glob patterns (relative ones against dir) into a sorted,
// de-duplicated list of .kefu files. A pattern that matches nothing is an
// error, so a typo in the config does not silently load no flows.
func Files(dir string, patterns []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, pat := range patterns {
		if !filepath.IsAbs(pat) && dir != "" {
			pat = filepath.Join(dir, pat)
		}
		m, err := filepath.Glob(pat)
		if err != nil {
			return nil, fmt.Errorf("dsl: bad pattern %q: %w", pat, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("dsl: no flow files match %q", pat)
		}
		for _, f := range m {
			if !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// Load parses and compiles the named files. The error is an ErrorList
// holding every problem in every file, sorted, or an I/O error.
func Load(paths []string, schema Schema) (*Program, error) {
	return load(paths, schema, os.ReadFile)
}

// LoadFS is Load over a file system, for embedded bots and tests.
func LoadFS(fsys fs.FS, paths []string, schema Schema) (*Program, error) {
	return load(paths, schema, func(p string) ([]byte, error) { return fs.ReadFile(fsys, p) })
}

func load(paths []string, schema Schema, read func(string) ([]byte, error)) (*Program, error) {
	var files []*ast.File
	var errs ErrorList
	for _, p := range paths {
		src, err := read(p)
		if err != nil {
			return nil, fmt.Errorf("dsl: %w", err)
		}
		f, perrs := parse.File(p, src)
		errs = append(errs, perrs...)
		files = append(files, f)
	}
	return compileAll(files, errs, schema)
}

func compileAll(files []*ast.File, errs ErrorList, schema Schema) (*Program, error) {
	prog, cerrs := compile.Compile(files, schema)
	errs = append(errs, cerrs...)
	if len(errs) > 0 {
		errs.Sort()
		errs.Dedup()
		if len(errs) > source.MaxErrors {
			errs = errs[:source.MaxErrors]
		}
		return nil, errs
	}
	return prog, nil
}
