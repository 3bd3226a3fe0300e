// Compiled once at image build time to record which classes javac loads;
// the result is the class-data-sharing archive /opt/airlock/javac.jsa.
import java.io.*;
import java.util.*;
import java.util.function.*;
import java.util.stream.*;

public class Warmup {
    record Pair<A, B>(A first, B second) {}

    interface Shape { double area(); }

    enum Kind { SMALL, LARGE }

    static <T extends Comparable<T>> T max(List<T> xs) {
        return xs.stream().max(Comparator.naturalOrder()).orElseThrow();
    }

    public static void main(String[] args) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        Scanner sc = new Scanner(in);
        Map<String, List<Integer>> m = new HashMap<>();
        TreeMap<Integer, Long> t = new TreeMap<>();
        ArrayDeque<int[]> q = new ArrayDeque<>();
        PriorityQueue<Pair<Integer, String>> pq = new PriorityQueue<>(Comparator.comparing(Pair::first));
        Function<Integer, Integer> sq = x -> x * x;
        Shape s = () -> Math.PI;
        StringBuilder sb = new StringBuilder();
        while (sc.hasNextInt()) {
            int v = sc.nextInt();
            m.computeIfAbsent("k" + v % 3, k -> new ArrayList<>()).add(sq.apply(v));
            t.merge(v, 1L, Long::sum);
            q.add(new int[] {v});
            pq.add(new Pair<>(v, String.valueOf(v)));
        }
        String joined = IntStream.range(0, 10).mapToObj(Integer::toString).collect(Collectors.joining(","));
        Kind k = joined.length() > 5 ? Kind.LARGE : Kind.SMALL;
        switch (k) {
            case SMALL -> sb.append("small");
            case LARGE -> sb.append("large");
        }
        try (PrintWriter out = new PrintWriter(new BufferedWriter(new OutputStreamWriter(System.out)))) {
            out.printf("%s %s %d %.3f %s%n", sb, joined, t.size(), s.area(), m);
            out.println(max(Arrays.asList(3, 1, 2)) + " " + Objects.hash(q.size(), pq.size()));
        }
    }
}
