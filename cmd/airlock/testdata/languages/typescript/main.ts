import * as fs from "fs";

const word: string = fs.readFileSync(0, "utf8").trim();
console.log(`OK ${word}`);
