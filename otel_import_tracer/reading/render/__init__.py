"""What the analyses found, as people and programs read it: text, JSON, Markdown, the HTML page
(``page``), the terminal summary at a traced process's stop (``summary``)."""
