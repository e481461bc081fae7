// Package config is kefu.yaml: the Config aggregate, its defaults, strict
// parsing (unknown keys are errors, named by key path and line), ${ENV}
// expansion, paths resolved relative to the file, and validation.
package config
