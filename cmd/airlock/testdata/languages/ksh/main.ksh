read -r word
print -r -- "OK ${word}"
