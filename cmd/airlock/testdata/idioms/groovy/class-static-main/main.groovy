class Solution {
    static void main(String[] args) {
        def sc = new Scanner(System.in)
        int n = sc.nextInt()
        long sum = 0
        n.times { sum += sc.nextLong() }
        println sum
    }
}
