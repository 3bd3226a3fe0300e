(ns solution
  (:require [clojure.string :as str]))

(defn solve [lines]
  (let [n (Long/parseLong (str/trim (first lines)))]
    (->> (str/split (str/trim (second lines)) #" ")
         (map #(Long/parseLong %))
         (take n)
         (apply +))))

(defn -main [& args]
  (println (solve (line-seq (java.io.BufferedReader. *in*)))))

(-main)
