package llm

// MemoryOperations names the output format of the memory observer's
// request (Request.Output.Name): a JSON object {"operations": [{op,
// memory_id, content}]}. The demo model recognises it.
const MemoryOperations = "memory_operations"
