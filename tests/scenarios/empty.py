"""Does nothing: its peak is the interpreter's own baseline under memsleuth."""
