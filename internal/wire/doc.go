// Package wire owns the bounds-checked reading and writing of the compact
// binary records kefu stores: sessions (engine/session) and knowledge
// chunks (knowledge/embedded). Lengths and counts are uvarints, so a
// corrupt record fails to decode instead of sizing a huge allocation.
package wire
