package solution;

import java.util.Arrays;
import java.util.Scanner;

public class Main {
    public static void main(String... args) {
        Scanner in = new Scanner(System.in);
        in.nextLine();
        System.out.println(Arrays.stream(in.nextLine().trim().split("\\s+")).mapToLong(Long::parseLong).sum());
    }
}
