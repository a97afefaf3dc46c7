"""The reports stage: one Markdown document builder rendered to HTML, the sweep report (report), and
figures that draw the tables they are given (plots)."""
