// Package chunk turns files into knowledge.Documents (Read, Walk) and
// documents into knowledge.Chunks (Split). It owns the file formats kefu
// ingests and how text is cut into passages; embedding, storing and
// searching chunks are knowledge's, and so is deciding what to do with
// documents that a file no longer holds.
//
// Formats, by extension:
//
//	.md .markdown  one document; one chunk per heading section, titled by its
//	               heading path ("退换货政策 > 退货流程 > 运费")
//	.txt           one document, cut at paragraphs
//	.jsonl .json   FAQ, one entry a line: {"id", "question", "answer",
//	               "tags": [..] or "a|b", "questions": [..] (alternatives;
//	               also "alternatives", "similar")}; a .json file may hold
//	               one array of entries instead
//	.csv           FAQ with a header row: id, question, answer, tags,
//	               questions in any order and case (tags and questions
//	               "|"-separated), or 编号, 问题, 答案, 标签, 相似问题
//
// Each FAQ entry is a document of its own and gives exactly one chunk, whose
// answer the engine may return as it is. Files and entries that cannot be
// used (empty, not UTF-8, a JSON line that does not parse, a CSV row without
// an answer, a duplicate id) are reported as Skipped, with their line,
// rather than failing the whole ingestion.
//
// Chunk ids are the document id, "#" and the chunk's position, so ingesting
// an unchanged file again gives the same ids. Passages are cut to at most
// Options.MaxRunes runes at paragraph, then sentence boundaries, each
// repeating the end of the one before (Options.OverlapRunes).
//
// A typical ingestion:
//
//	var docs []knowledge.Document
//	var skipped []chunk.Skipped
//	walked, err := chunk.Walk([]string{"kb"}, func(id, path string) error {
//		data, err := os.ReadFile(path)
//		if err != nil {
//			return err
//		}
//		d, s, err := chunk.Read(id, data, []string{"售后"})
//		docs, skipped = append(docs, d...), append(skipped, s...)
//		return err
//	})
//	skipped = append(walked, skipped...) // report these to the user
//	in := knowledge.Ingester{Store: st, Embedder: emb, Split: func(d knowledge.Document) []knowledge.Chunk {
//		return chunk.Split(d, chunk.Options{})
//	}}
//	report, err := in.Ingest(ctx, docs)
//
// Functions here keep no state and are safe for concurrent use.
package chunk
