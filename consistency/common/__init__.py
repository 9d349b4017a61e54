"""Small text helpers every stage may use: input errors, escaping for each output format, sanitising of text from outside."""
