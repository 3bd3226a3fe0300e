import java.util.*;
import java.util.stream.*;

class Summer {
    static long sum(List<Long> xs) {
        return xs.stream().mapToLong(Long::longValue).sum();
    }
}

class Main {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        int n = in.nextInt();
        List<Long> xs = new ArrayList<>();
        for (int i = 0; i < n; i++) xs.add(in.nextLong());
        System.out.println(Summer.sum(xs));
    }
}
