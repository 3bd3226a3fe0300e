import java.io.*;
import java.util.*;

public final class Solution {
    record Input(int n, long[] values) {}

    static Input read(BufferedReader r) throws IOException {
        int n = Integer.parseInt(r.readLine().trim());
        long[] v = Arrays.stream(r.readLine().trim().split(" ")).mapToLong(Long::parseLong).toArray();
        return new Input(n, v);
    }

    public static void main(String[] args) throws IOException {
        Input in = read(new BufferedReader(new InputStreamReader(System.in)));
        long s = 0;
        for (int i = 0; i < in.n(); i++) s += in.values()[i];
        PrintWriter out = new PrintWriter(new BufferedWriter(new OutputStreamWriter(System.out)));
        out.println(s);
        out.flush();
    }
}
