(require '[clojure.string :as str])

(let [n (Integer/parseInt (str/trim (read-line)))
      xs (map #(Long/parseLong %) (str/split (str/trim (read-line)) #"\s+"))]
  (println (reduce + (take n xs))))
