package chunk

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Walk finds the files to ingest under paths, each a file or a directory
// walked recursively in lexical order, and calls fn for each with its id and
// its path. The id is the path relative to the directory given,
// slash-separated, or the base name for a file given itself.
//
// Hidden files and directories (".git", ".DS_Store") and editor leftovers
// ("~$faq.csv", "faq.csv~") are passed over silently. Files Read does not
// support, a second file with an id already seen, symbolic links to
// directories (not followed) and entries that cannot be read come back as
// Skipped. A path that cannot be read is an error, as is an error from fn,
// which stops the walk and is returned as it is.
func Walk(paths []string, fn func(id, path string) error) ([]Skipped, error) {
	var skipped []Skipped
	seen := map[string]string{} // id -> path
	var fnErr error
	visit := func(id, p string) error {
		if !Supported(p) {
			ext := path.Ext(id)
			if ext == "" {
				ext = "(no extension)"
			}
			skipped = append(skipped, Skipped{Source: id, Reason: "unsupported file type " + ext})
			return nil
		}
		if first, ok := seen[id]; ok {
			skipped = append(skipped, Skipped{Source: id, Reason: fmt.Sprintf("duplicate id: also %s, ingested from %s", p, first)})
			return nil
		}
		seen[id] = p
		fnErr = fn(id, p)
		return fnErr
	}
	for _, root := range paths {
		info, err := os.Stat(root)
		if err != nil {
			return skipped, fmt.Errorf("chunk: %w", err)
		}
		if !info.IsDir() {
			if !info.Mode().IsRegular() {
				return skipped, fmt.Errorf("chunk: %s: not a regular file", root)
			}
			if err := visit(filepath.Base(root), root); err != nil {
				return skipped, err
			}
			continue
		}
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if p == root {
				return err
			}
			rel, relErr := filepath.Rel(root, p)
			if relErr != nil {
				return relErr
			}
			id := filepath.ToSlash(rel)
			if ignored(d.Name()) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if err != nil {
				skipped = append(skipped, Skipped{Source: id, Reason: "cannot read: " + unwrapPath(err)})
				if d != nil && d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			switch {
			case d.IsDir():
				return nil
			case d.Type()&fs.ModeSymlink != 0:
				info, err := os.Stat(p)
				switch {
				case err != nil:
					skipped = append(skipped, Skipped{Source: id, Reason: "cannot read: " + unwrapPath(err)})
					return nil
				case info.IsDir():
					skipped = append(skipped, Skipped{Source: id, Reason: "symbolic link to a directory (not followed)"})
					return nil
				case !info.Mode().IsRegular():
					return nil
				}
			case !d.Type().IsRegular():
				return nil // sockets, devices, pipes
			}
			return visit(id, p)
		})
		switch {
		case fnErr != nil:
			return skipped, fnErr
		case err != nil:
			return skipped, fmt.Errorf("chunk: %w", err)
		}
	}
	return skipped, nil
}

// ignored reports whether a file or directory name is hidden or an
// editor's leftover (an Excel or WPS lock file, a backup).
func ignored(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "~$") || strings.HasSuffix(name, "~")
}

// unwrapPath returns the message of a *fs.PathError without its path,
// which the Skipped gives.
func unwrapPath(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
