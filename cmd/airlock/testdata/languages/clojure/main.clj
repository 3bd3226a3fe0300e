(let [word (clojure.string/trim (read-line))]
  (println (str "OK " word)))
