"""aioharness reports: merges result documents into HTML and Markdown, gates upgrades on
regressions, and checks the harness's JUnit and KTAP output (run with /usr/bin/python3)."""
