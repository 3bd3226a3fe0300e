read -r word
printf 'OK %s\n' "$word"
