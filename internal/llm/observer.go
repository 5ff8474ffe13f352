package llm

// MemoryOperations names the output format of the memory observer's
// request (Request.Output.Name): a JSON object {"operations": [{op,
// memory_id, content}]}. The demo model recognises it.
const MemoryOperations = "memory_operations"

// DreamOperations names the output format of a dream's request
// (Request.Output.Name): a JSON object {"operations": [{op (update or
// delete), memory_id, content}]} over the memories listed in the request
// as lines "- [mem_…] content". The demo model recognises it.
const DreamOperations = "dream_operations"
