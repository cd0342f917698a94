# Writes the README as installed in /usr/share/doc/wbagent, where the pages of docs/ sit beside
# it and the example config is in examples/: its links to docs/PAGE.md become PAGE.md, the one
# to config/wbagent.example.toml points into examples/, and the reference cloud's README,
# which only the wbcloud package installs (/usr/share/doc/wbcloud), and the benchmarks' README,
# which no package installs, are named, not linked.
# installed_docs_links_resolve_test checks that every relative link of the installed pages
# resolves.
# -DIN=README.md -DOUT=... -P installed_readme.cmake
file(READ "${IN}" text)
string(REPLACE "](docs/" "](" text "${text}")
string(REPLACE "[docs/" "[" text "${text}")
string(REPLACE "[config/wbagent.example.toml](config/wbagent.example.toml)"
               "[examples/wbagent.example.toml](examples/wbagent.example.toml)" text "${text}")
string(REPLACE "[tools/wbcloud/README.md](tools/wbcloud/README.md)"
               "`/usr/share/doc/wbcloud/README.md` (in the `wbcloud` package)" text "${text}")
# The benchmarks are in the source tree only.
string(REPLACE "[bench/README.md](bench/README.md)"
               "`bench/README.md` (in the source tree)" text "${text}")
file(WRITE "${OUT}.tmp" "${text}")
# Only a changed file is replaced, so that an unchanged README installs nothing new.
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
